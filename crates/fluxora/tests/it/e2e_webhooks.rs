//! Live webhook delivery against a real local receiver that verifies every delivery with
//! `fluxora-webhooks` and deduplicates it: delivery and verification, retries, failures, dead
//! letters and replay, rotation, test events, automatic disabling, the SSRF guard, SIGKILL
//! mid-delivery, and two replicas.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use fluxora_webhooks::{Claim, DeliveryDedup, InMemoryDedup, Verifier};
use serde_json::{json, Value};

use crate::binary::Server;
use crate::helpers::{expect_error, valid_body, TestApp, TestDb};

const ADMIN: &str = "admin-token-0123456789abcdef";

/// What the receiver saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub delivery_id: String,
    pub event: String,
    pub body: Value,
    pub verified: bool,
}

struct ReceiverState {
    secrets: Mutex<Vec<String>>,
    /// Statuses to answer next (front first); empty → 200.
    script: Mutex<VecDeque<u16>>,
    /// Every request, verified or not.
    requests: Mutex<Vec<Received>>,
    /// Business actions done (once per delivery, thanks to the dedup).
    processed: Mutex<Vec<Received>>,
    dedup: InMemoryDedup,
    delay: Mutex<Duration>,
}

/// A local HTTP receiver verifying signatures with the endpoint's secret(s).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), v.to_string())))
        .collect();
    let secrets = state.secrets.lock().unwrap().clone();
    let verified = secrets
        .iter()
        .find_map(|secret| Verifier::new(secret.as_bytes()).verify(&pairs, &body).ok());
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let received = Received {
        delivery_id: header("x-fluxora-delivery-id"),
        event: header("x-fluxora-event"),
        body: parsed,
        verified: verified.is_some(),
    };
    state.requests.lock().unwrap().push(received.clone());
    let scripted = state.script.lock().unwrap().pop_front();
    if let Some(status) = scripted {
        return (
            StatusCode::from_u16(status).unwrap(),
            format!("scripted {status}"),
        );
    }
    let Some(delivery) = verified else {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"signature_mismatch"}"#.into(),
        );
    };
    match state
        .dedup
        .claim(&delivery.delivery_id, &delivery.signature.to_string(), 600)
        .await
    {
        Ok(Claim::Claimed(lease)) => {
            state.processed.lock().unwrap().push(received);
            let _ = state.dedup.complete(&lease).await;
            (StatusCode::OK, "{}".into())
        }
        Ok(Claim::Duplicate(_)) => (
            StatusCode::CONFLICT,
            r#"{"error":"duplicate_delivery"}"#.into(),
        ),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "dedup down".into()),
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(ReceiverState {
            secrets: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            processed: Mutex::new(Vec::new()),
            dedup: InMemoryDedup::default(),
            delay: Mutex::new(Duration::ZERO),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, state }
    }

    pub fn trust(&self, secret: &str) {
        self.state.secrets.lock().unwrap().push(secret.to_string());
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn processed(&self) -> Vec<Received> {
        self.state.processed.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` business actions were processed.
    pub async fn wait_processed(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let processed = self.processed();
            if processed.len() >= n {
                return processed;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} processed; requests: {:?}",
                processed.len(),
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn webhook_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ADMIN_TOKEN", ADMIN),
        ("WEBHOOK_SSRF_ALLOWLIST", "127.0.0.1"),
        ("WEBHOOK_RETRY_SCHEDULE", "50ms,50ms,50ms"),
        ("WEBHOOK_POLL_INTERVAL_MS", "20"),
    ]
}

pub(crate) async fn spawn(extra: &[(&str, &str)]) -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let mut env = webhook_env();
    env.extend_from_slice(extra);
    (TestApp::spawn_env(&db, &env).await, db)
}

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Creates an endpoint for `receiver` and makes the receiver trust its secret.
pub(crate) async fn endpoint(app: &TestApp, receiver: &Receiver, extra: Value) -> Value {
    let mut body = json!({"url": receiver.url, "description": "test receiver"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let response = admin(
        app,
        reqwest::Method::POST,
        "/api/webhooks/endpoints",
        Some(body),
    )
    .await;
    assert_eq!(response.status(), 201);
    // The secret is in this response only: no cache may keep it.
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    receiver.trust(created["secret"].as_str().unwrap());
    created
}

async fn delivery_of(app: &TestApp, delivery_id: &str) -> Value {
    admin(
        app,
        reqwest::Method::GET,
        &format!("/api/webhooks/deliveries/{delivery_id}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap()
}

/// Waits (bounded) until one delivery is recorded as delivered; returns it with its attempts.
async fn wait_delivered(app: &TestApp, delivery_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivery = delivery_of(app, delivery_id).await;
        if delivery["status"] == "delivered" {
            return delivery;
        }
        assert!(
            Instant::now() < deadline,
            "never recorded as delivered: {delivery}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until a delivery reaches `status`.
async fn wait_status(app: &TestApp, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list: Value = admin(
            app,
            reqwest::Method::GET,
            &format!("/api/webhooks/deliveries?status={status}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        if let Some(first) = list["deliveries"].as_array().and_then(|d| d.first()) {
            return first.clone();
        }
        assert!(Instant::now() < deadline, "no delivery reached {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let closed = TestApp::spawn().await;
    expect_error(
        closed.get("/api/webhooks/endpoints").await,
        404,
        "NOT_FOUND",
    )
    .await;
    let (app, _db) = spawn(&[]).await;
    expect_error(
        app.get("/api/webhooks/endpoints").await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    let wrong = app
        .client
        .get(app.url("/api/webhooks/deliveries"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401, "UNAUTHORIZED").await;
    let ok = admin(&app, reqwest::Method::GET, "/api/webhooks/endpoints", None).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_stream_change_is_delivered_signed_and_verifiable() {
    let (app, _db) = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let created = endpoint(&app, &receiver, json!({})).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("fxwh_"));
    let endpoint_id = created["id"].as_str().unwrap();

    // The secret is shown once: never in list or get.
    for path in [
        "/api/webhooks/endpoints".to_string(),
        format!("/api/webhooks/endpoints/{endpoint_id}"),
    ] {
        let text = admin(&app, reqwest::Method::GET, &path, None)
            .await
            .text()
            .await
            .unwrap();
        assert!(!text.contains(&secret), "{path} leaked the secret");
    }

    let stream = app.create_stream(json!({})).await;
    let id = stream["id"].as_str().unwrap();
    app.post_empty(&format!("/api/streams/{id}/pause")).await;
    app.delete(&format!("/api/streams/{id}")).await;
    let processed = receiver.wait_processed(3).await;
    // Deliveries are concurrent: no order is promised across events (docs/webhooks.md).
    let types: HashSet<&str> = processed.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        types,
        HashSet::from(["stream.created", "stream.updated", "stream.cancelled"])
    );
    for received in &processed {
        assert!(received.verified);
        assert_eq!(
            received.body["deliveryId"], received.delivery_id,
            "the id is inside the signed body"
        );
        assert_eq!(received.body["type"], received.event);
        assert!(received.body["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(received.body["data"]["id"], id);
    }
    let cancelled = processed
        .iter()
        .find(|r| r.event == "stream.cancelled")
        .unwrap();
    assert_eq!(cancelled.body["data"]["status"], "cancelled");
    let delivery = wait_delivered(&app, &processed[0].delivery_id).await;
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["attemptLog"][0]["statusCode"], 200);
}

#[tokio::test]
async fn failures_are_retried_and_every_attempt_recorded() {
    let (app, _db) = spawn(&[]).await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({"eventTypes": ["stream.created"]})).await;
    receiver.answer(&[503, 500]);
    app.create_stream(json!({})).await;
    let processed = receiver.wait_processed(1).await;
    let delivery_id = processed[0].delivery_id.clone();
    assert_eq!(
        receiver.requests().len(),
        3,
        "two failures then the success"
    );
    assert!(
        receiver
            .requests()
            .iter()
            .all(|r| r.delivery_id == delivery_id),
        "the id is stable across retries"
    );
    let delivery = wait_delivered(&app, &delivery_id).await;
    let statuses: Vec<&Value> = delivery["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(statuses, vec![&json!(503), &json!(500), &json!(200)]);
    assert_eq!(delivery["attemptLog"][0]["responseBody"], "scripted 503");
    assert!(delivery["attemptLog"][0]["latencyMs"].as_u64().is_some());
    // The filter held: a pause is not delivered to a stream.created-only endpoint.
    assert_eq!(receiver.processed().len(), 1);
}

#[tokio::test]
async fn a_client_error_fails_without_retry() {
    let (app, _db) = spawn(&[]).await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({})).await;
    receiver.answer(&[400]);
    app.create_stream(json!({})).await;
    let failed = wait_status(&app, "failed").await;
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["lastStatus"], 400);
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn an_exhausted_delivery_is_a_dead_letter_and_replays() {
    let (app, _db) = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let created = endpoint(&app, &receiver, json!({})).await;
    let endpoint_id = created["id"].as_str().unwrap();
    receiver.answer(&[500, 500, 500, 500]);
    app.create_stream(json!({})).await;
    let dead = wait_status(&app, "dead").await;
    assert_eq!(
        dead["attempts"], 4,
        "the immediate attempt and the three scheduled retries"
    );
    assert_eq!(receiver.processed().len(), 0);

    // Replay all dead letters of the endpoint: now the receiver accepts.
    let replayed: Value = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/webhooks/endpoints/{endpoint_id}/replay-dead-letters"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(replayed["replayed"], 1);
    let processed = receiver.wait_processed(1).await;
    assert_eq!(processed[0].delivery_id, dead["id"]);
    // One delivery replayed by id also works (already delivered: the receiver's dedup answers 409,
    // which counts as delivered).
    let response = admin(
        &app,
        reqwest::Method::POST,
        &format!(
            "/api/webhooks/deliveries/{}/replay",
            dead["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivery = delivery_of(&app, dead["id"].as_str().unwrap()).await;
        if delivery["status"] == "delivered" && delivery["attempts"] == 6 {
            assert_eq!(delivery["attemptLog"][5]["statusCode"], 409);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replay never finished: {delivery}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(receiver.processed().len(), 1, "processed once");
}

/// A replay asked for while the delivery's attempt is in flight is not overwritten when that
/// attempt is recorded: the delivery stays due and is sent once more. Driven through the store
/// (the race is a matter of milliseconds through HTTP).
#[tokio::test]
async fn a_replay_during_an_attempt_in_flight_is_not_lost() {
    use fluxora::webhooks::repo::{AttemptRecord, WebhookRepository};
    use fluxora::webhooks::DeliveryStatus;
    let db = TestDb::new().await;
    let database = fluxora::store::open(&fluxora::config::Config::for_database(db.url()).database)
        .await
        .unwrap();
    let repo = WebhookRepository::new(database.clone());
    let now = chrono::Utc::now().timestamp_millis();
    let endpoint = fluxora::webhooks::Endpoint::new(
        "https://receiver.example/hook".into(),
        None,
        vec![],
        true,
        fluxora::secret::Secret::new("s".repeat(32)),
        now,
    );
    repo.create_endpoint(&endpoint).await.unwrap();
    let event = fluxora::webhooks::OutboxEvent::new(
        "stream.created",
        None,
        serde_json::value::RawValue::from_string("{}".into()).unwrap(),
        now,
    );
    let ids = repo.enqueue_event(&event, None).await.unwrap();
    assert_eq!(ids.len(), 1);
    let success = |attempt: u32, at: i64| AttemptRecord {
        delivery_id: ids[0].clone(),
        endpoint_id: endpoint.id.clone(),
        attempt,
        attempted_at: at,
        status_code: Some(200),
        latency_ms: 1,
        error: None,
        response_body: None,
        status: DeliveryStatus::Delivered,
        next_attempt_at: at,
        success: true,
        disable_after_failures: 10,
    };

    assert_eq!(
        repo.claim_deliveries(now, now + 60_000, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // The operator replays it while the attempt is in flight; then the attempt succeeds.
    assert!(repo.replay_delivery(&ids[0], now + 1).await.unwrap());
    repo.record_attempts(&[success(1, now + 2)]).await.unwrap();
    let (delivery, attempts) = repo.get_delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(attempts.len(), 1, "the attempt is recorded");
    assert_eq!(
        delivery.status,
        DeliveryStatus::Pending,
        "the replay still stands"
    );
    let again = repo
        .claim_deliveries(now + 3, now + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);

    // Without a replay, a recorded success is final.
    repo.record_attempts(&[success(2, now + 4)]).await.unwrap();
    let (delivery, attempts) = repo.get_delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert!(repo
        .claim_deliveries(now + 5, now + 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    database.close().await;
}

#[tokio::test]
async fn rotation_keeps_the_previous_secret_valid_and_test_events_arrive() {
    let (app, _db) = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let created = endpoint(&app, &receiver, json!({})).await;
    let old_secret = created["secret"].as_str().unwrap().to_string();
    let endpoint_id = created["id"].as_str().unwrap();
    let rotated = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/webhooks/endpoints/{endpoint_id}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["previousSecretValidUntil"].as_str().is_some());
    let unix = rotated["rotatedAtUnix"].as_i64().unwrap();
    assert!(
        (unix - chrono::Utc::now().timestamp()).abs() < 60,
        "unix seconds"
    );
    // The receiver still only knows the old secret: deliveries keep verifying during the grace.
    let response = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/webhooks/endpoints/{endpoint_id}/test"),
        None,
    )
    .await;
    assert_eq!(response.status(), 202);
    let processed = receiver.wait_processed(1).await;
    assert_eq!(processed[0].event, "webhook.test");
    assert!(processed[0].verified);
    let shown = admin(
        &app,
        reqwest::Method::GET,
        &format!("/api/webhooks/endpoints/{endpoint_id}"),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!shown.contains(new_secret) && !shown.contains(&old_secret));
}

#[tokio::test]
async fn a_continuously_failing_endpoint_is_disabled_and_can_be_re_enabled() {
    let (app, _db) = spawn(&[("WEBHOOK_DISABLE_AFTER_FAILURES", "2")]).await;
    let receiver = Receiver::start().await;
    let created = endpoint(&app, &receiver, json!({"eventTypes": ["stream.created"]})).await;
    let endpoint_id = created["id"].as_str().unwrap().to_string();
    receiver.answer(&[400, 400]);
    app.create_stream(json!({})).await;
    app.create_stream(json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown: Value = admin(
            &app,
            reqwest::Method::GET,
            &format!("/api/webhooks/endpoints/{endpoint_id}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        if shown["enabled"] == false {
            assert!(shown["disabledReason"]
                .as_str()
                .unwrap()
                .contains("2 consecutive"));
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {shown}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Disabled: new changes create no delivery.
    app.create_stream(json!({})).await;
    let enabled: Value = admin(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/webhooks/endpoints/{endpoint_id}"),
        Some(json!({"enabled": true})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["consecutiveFailures"], 0);
    assert_eq!(enabled["disabledReason"], Value::Null);
    app.create_stream(json!({})).await;
    receiver.wait_processed(1).await;
    assert_eq!(
        receiver.requests().len(),
        3,
        "nothing was queued while disabled"
    );
}

/// Sends `{"url": url}` to an endpoint route (`POST` create or `PATCH` update) and expects a
/// 400 `VALIDATION_ERROR`; returns its envelope.
async fn refused_endpoint(app: &TestApp, method: reqwest::Method, path: &str, url: &str) -> Value {
    let response = admin(app, method, path, Some(json!({"url": url}))).await;
    expect_error(response, 400, "VALIDATION_ERROR").await
}

/// This machine's host name and the first address it resolves to, which must be forbidden for
/// webhooks (machines here map their name to 127.0.0.1 in /etc/hosts, as most hosts do).
async fn a_name_resolving_to_a_forbidden_address() -> (String, std::net::IpAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_lowercase();
    let addresses: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .unwrap_or_else(|e| panic!("this machine's name {name} must resolve: {e}"))
        .map(|a| a.ip())
        .collect();
    let address = addresses
        .iter()
        .copied()
        .find(|ip| fluxora::ssrf::is_forbidden(*ip).is_some())
        .unwrap_or_else(|| panic!("{name} resolves to no forbidden address: {addresses:?}"));
    assert!(
        addresses
            .iter()
            .all(|ip| fluxora::ssrf::is_forbidden(*ip).is_some()),
        "{name} also resolves to a public address: {addresses:?}"
    );
    (name, address)
}

#[tokio::test]
async fn a_host_name_resolving_only_to_forbidden_addresses_is_refused_at_creation() {
    // The production policy (no allow-list: an allow-listed IP would be accepted behind a name).
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(&db, &[("ADMIN_TOKEN", ADMIN)]).await;
    // A host name is resolved at creation too: the machine's own name resolves to a loopback
    // (or private) address here, so it is refused, naming the address; an update to it as well.
    let (name, address) = a_name_resolving_to_a_forbidden_address().await;
    let url = format!("https://{name}/hook");
    let error =
        refused_endpoint(&app, reqwest::Method::POST, "/api/webhooks/endpoints", &url).await;
    assert_eq!(error["details"][0]["code"], "ADDRESS_FORBIDDEN", "{error}");
    let message = error["details"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&name) && message.contains(&address.to_string()),
        "{message}"
    );
    let created = admin(
        &app,
        reqwest::Method::POST,
        "/api/webhooks/endpoints",
        Some(json!({"url": "https://receiver.invalid/hook"})),
    )
    .await;
    assert_eq!(
        created.status(),
        201,
        "a name that does not resolve (yet) is accepted"
    );
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let error = refused_endpoint(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/webhooks/endpoints/{id}"),
        &url,
    )
    .await;
    assert_eq!(error["details"][0]["code"], "ADDRESS_FORBIDDEN", "{error}");
    admin(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/webhooks/endpoints/{id}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn the_ssrf_guard_refuses_at_creation_and_at_delivery() {
    let (app, db) = spawn(&[]).await;
    for (url, code) in [
        ("http://example.com/hook", "HTTPS_REQUIRED"),
        ("https://10.0.0.1/hook", "ADDRESS_FORBIDDEN"),
        ("https://169.254.169.254/latest", "ADDRESS_FORBIDDEN"),
        ("https://[::ffff:127.0.0.1]/hook", "ADDRESS_FORBIDDEN"),
        ("https://localhost/hook", "ADDRESS_FORBIDDEN"),
        ("https://user:pass@example.com/hook", "CREDENTIALS_IN_URL"),
        ("ftp://example.com/hook", "URL_SCHEME_UNSUPPORTED"),
        ("not a url", "URL_INVALID"),
    ] {
        let error =
            refused_endpoint(&app, reqwest::Method::POST, "/api/webhooks/endpoints", url).await;
        assert_eq!(error["details"][0]["code"], code, "{url}");
    }
    // An endpoint stored before the rules changed (written straight to the database) is
    // refused at delivery: failed, no connection attempted.
    let database = fluxora::store::open(&fluxora::config::Config::for_database(db.url()).database)
        .await
        .unwrap();
    let store = fluxora::webhooks::repo::WebhookRepository::new(database.clone());
    let now = chrono::Utc::now().timestamp_millis();
    store
        .create_endpoint(&fluxora::webhooks::Endpoint::new(
            "https://10.1.2.3/hook".into(),
            None,
            vec![],
            true,
            fluxora::secret::Secret::new("s".repeat(32)),
            now,
        ))
        .await
        .unwrap();
    app.create_stream(json!({})).await;
    let failed = wait_status(&app, "failed").await;
    let delivery = delivery_of(&app, failed["id"].as_str().unwrap()).await;
    assert!(
        delivery["attemptLog"][0]["error"]
            .as_str()
            .unwrap()
            .contains("SSRF"),
        "{delivery}"
    );
    assert_eq!(delivery["attemptLog"][0]["statusCode"], Value::Null);
}

#[tokio::test]
async fn a_delivery_survives_sigkill_mid_flight_and_secrets_never_reach_logs() {
    let db = TestDb::new().await;
    let receiver = Receiver::start().await;
    let mut env = webhook_env();
    env.push(("WEBHOOK_LEASE_MS", "1000"));
    let server = Server::start_with(&db.url(), &env).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/webhooks/endpoints", server.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    receiver.trust(&secret);
    // The receiver hangs: the delivery is in flight when the service dies.
    receiver.set_delay(Duration::from_secs(3));
    client
        .post(format!("{}/api/streams", server.base))
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.requests().is_empty() {
        assert!(Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log_before = server.log();
    server.kill().await;
    receiver.set_delay(Duration::ZERO);

    let server = Server::start_with(&db.url(), &env).await;
    let processed = receiver.wait_processed(1).await;
    assert_eq!(processed[0].event, "stream.created");
    let log = server.terminate().await;
    let all = serde_json::to_string(&(log_before, log)).unwrap();
    assert!(
        !all.contains(&secret),
        "the webhook secret reached the logs"
    );
    assert!(!all.contains(ADMIN), "the admin token reached the logs");
}

#[tokio::test]
async fn two_replicas_on_postgres_deliver_every_event_exactly_once() {
    let db = TestDb::postgres().await;
    let receiver = Receiver::start().await;
    let env = webhook_env();
    let a = Server::start_with(&db.url(), &env).await;
    let b = Server::start_with(&db.url(), &env).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/webhooks/endpoints", a.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": receiver.url, "eventTypes": ["stream.created"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver.trust(created["secret"].as_str().unwrap());
    let creates = (0..40).map(|i| {
        let base = if i % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let client = client.clone();
        async move {
            let response = client
                .post(format!("{base}/api/streams"))
                .json(&valid_body())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    });
    let ids: HashSet<String> = futures::future::join_all(creates)
        .await
        .into_iter()
        .collect();
    let processed = receiver.wait_processed(40).await;
    let streams: HashSet<String> = processed
        .iter()
        .map(|r| r.body["data"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(streams, ids, "every stream's event processed");
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for request in receiver.requests() {
        *per_delivery.entry(request.delivery_id).or_default() += 1;
    }
    assert!(
        per_delivery.values().all(|n| *n == 1),
        "a delivery was sent twice: {per_delivery:?}"
    );
    assert_eq!(receiver.processed().len(), 40);
    a.terminate().await;
    b.terminate().await;
}

/// Pushes `events` to `POST /internal/indexer/events` with the worker `token`; the report.
async fn push(app: &TestApp, token: &str, events: Vec<Value>) -> Value {
    push_body(app, token, json!({"events": events})).await
}

/// Pushes a whole batch `body` (events, ledger entries, lookback windows) with the worker
/// `token`, expects 200, and returns the ingest report.
pub(crate) async fn push_body(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url("/internal/indexer/events"))
        .header("x-indexer-worker-token", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let report: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{report}");
    report
}

/// A service with push ingest on and a webhook endpoint at a fresh receiver, into which the first
/// scenario's events were pushed and whose 17 webhook events were delivered.
async fn indexed_scenario(
    token: &str,
) -> (TestApp, TestDb, Receiver, crate::rpc_fixture::FixtureRpc) {
    let (app, db) = spawn(&[("INDEXER_WORKER_TOKEN", token)]).await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({})).await;
    let rpc = crate::rpc_fixture::FixtureRpc::start().await;
    push(
        &app,
        token,
        rpc.push_events(crate::rpc_fixture::Branch::Main),
    )
    .await;
    receiver.wait_processed(17).await;
    (app, db, receiver, rpc)
}

/// An event (an unknown name, stored and skipped) of a ledger after the scenario's last: pushed,
/// it makes the scenario's last ledger (1 216 502) safe.
fn later_unknown_event() -> Value {
    let mut later = crate::rpc_fixture::fixture("malformed.getEvents.json")["response"]["result"]
        ["events"][3]
        .clone();
    later["ledgerHash"] = json!(format!("{:064x}", later["ledger"].as_u64().unwrap()));
    later
}

/// The first 100 deliveries, as the admin API lists them.
async fn deliveries(app: &TestApp) -> Value {
    admin(
        app,
        reqwest::Method::GET,
        "/api/webhooks/deliveries?limit=100",
        None,
    )
    .await
    .json()
    .await
    .unwrap()
}

#[tokio::test]
async fn chain_events_are_delivered_once_their_ledger_is_safe() {
    use crate::rpc_fixture::{Branch, FixtureRpc};
    let token = "worker-token-0123456789abcdef";
    let (app, _db) = spawn(&[("INDEXER_WORKER_TOKEN", token)]).await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({})).await;
    let rpc = FixtureRpc::start().await;
    let events = rpc.push_events(Branch::Main);
    let report = push(&app, token, events).await;
    assert_eq!(report["applied"], 18);
    assert_eq!(report["lastSafeLedger"], 1_216_501);
    // The last event (ledger 1 216 502, not yet safe) is held; the other 17 are queued at once,
    // in the ingest transaction.
    let listed = deliveries(&app).await;
    assert_eq!(listed["deliveries"].as_array().unwrap().len(), 17);
    let processed = receiver.wait_processed(17).await;
    assert!(processed
        .iter()
        .all(|r| r.verified && r.body["data"]["source"] == "chain"));
    let created = processed
        .iter()
        .filter(|r| r.event == "stream.created")
        .count();
    assert_eq!(created, 3);
    assert_eq!(
        processed
            .iter()
            .filter(|r| r.event == "stream.completed")
            .count(),
        1
    );
    assert_eq!(
        processed
            .iter()
            .filter(|r| r.event == "stream.cancelled")
            .count(),
        1
    );

    // A later ledger makes 1 216 502 safe: the held event is released.
    let report = push(&app, token, vec![later_unknown_event()]).await;
    assert_eq!(report["unknown"], 1);
    let processed = receiver.wait_processed(18).await;
    let closed = &processed[17];
    assert_eq!(
        closed.body["data"]["chain"]["closed"], true,
        "{:?}",
        closed.body
    );
}

/// A storage read that changes what the resource shows is announced as `stream.updated`, once
/// its ledger is safe; reading the same storage again announces nothing.
#[tokio::test]
async fn a_storage_read_that_changes_a_stream_is_announced_once() {
    let token = "worker-token-0123456789abcdef";
    let (app, _db, receiver, rpc) = indexed_scenario(token).await;
    let entries = rpc.entries();
    assert_eq!(entries.len(), 2, "streams 0 and 1 are still stored");
    let send_entries = || push_body(&app, token, json!({"events": [], "ledgerEntries": entries}));
    let report = send_entries().await;
    assert_eq!(report["entriesApplied"], 2, "{report}");
    // The storage confirms the events and adds what they cannot tell (irrevocable, witness,
    // pooled): one stream.updated each.
    let processed = receiver.wait_processed(19).await;
    for update in &processed[17..] {
        assert_eq!(update.event, "stream.updated");
        let chain = &update.body["data"]["chain"];
        assert_eq!(chain["irrevocable"], false, "{chain}");
        assert!(chain["stateCheckedLedger"].is_u64(), "{chain}");
    }
    let report = send_entries().await;
    assert_eq!(report["entriesApplied"], 2, "{report}");
    let listed = deliveries(&app).await;
    assert_eq!(
        listed["deliveries"].as_array().unwrap().len(),
        19,
        "the same storage again changes nothing visible: {listed}"
    );
}

/// A lookback window read with the contract's view changes what the recipient can withdraw: a
/// new window is announced as `stream.updated` once; the same window again, or an older read,
/// announces nothing.
#[tokio::test]
async fn a_lookback_window_that_changes_a_stream_is_announced_once() {
    use crate::rpc_fixture::CONTRACT_ID;
    let token = "worker-token-0123456789abcdef";
    let (app, _db, receiver, _rpc) = indexed_scenario(token).await;
    let send = |ledgers: Value, read_ledger: u32| {
        let window = json!({"contractId": CONTRACT_ID, "streamId": 1,
                            "lookbackLedgers": ledgers, "readLedger": read_ledger});
        push_body(
            &app,
            token,
            json!({"events": [], "lookbackWindows": [window]}),
        )
    };
    let report = send(json!(60), 1_216_504).await;
    assert_eq!(report["lookbacksApplied"], 1, "{report}");
    let processed = receiver.wait_processed(18).await;
    let update = &processed[17];
    assert_eq!(update.event, "stream.updated");
    assert_eq!(update.body["data"]["chain"]["lookbackLedgers"], 60);
    assert_eq!(
        update.body["data"]["chain"]["lookbackReadLedger"],
        1_216_504
    );
    // The same window read again: recorded, not announced. An older read: ignored.
    assert_eq!(send(json!(60), 1_216_505).await["lookbacksApplied"], 1);
    assert_eq!(send(Value::Null, 1_216_000).await["lookbacksApplied"], 0);
    let listed = deliveries(&app).await;
    assert_eq!(
        listed["deliveries"].as_array().unwrap().len(),
        18,
        "{listed}"
    );
    let stream = app.get_json(&format!("/api/streams/{CONTRACT_ID}-1")).await;
    assert_eq!(stream["chain"]["lookbackLedgers"], 60, "{stream}");
}

/// With no endpoint enabled, the webhook events of safe ledgers are not written (nothing would
/// deliver them); events still held are, so an endpoint created before their release gets them.
#[tokio::test]
async fn an_endpoint_gets_the_chain_events_released_after_its_creation() {
    use crate::rpc_fixture::{Branch, FixtureRpc};
    let token = "worker-token-0123456789abcdef";
    let (app, _db) = spawn(&[("INDEXER_WORKER_TOKEN", token)]).await;
    let rpc = FixtureRpc::start().await;
    let report = push(&app, token, rpc.push_events(Branch::Main)).await;
    assert_eq!(report["applied"], 18);
    assert_eq!(report["lastSafeLedger"], 1_216_501);

    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({})).await;
    let report = push(&app, token, vec![later_unknown_event()]).await;
    assert_eq!(report["unknown"], 1);
    // Deliveries are written in the ingest transaction: only the held event (ledger 1 216 502,
    // the stream's `closed`) reaches the new endpoint; the 17 released before it existed do not.
    let listed = deliveries(&app).await;
    assert_eq!(
        listed["deliveries"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let processed = receiver.wait_processed(1).await;
    assert!(processed[0].verified);
    assert_eq!(processed[0].body["data"]["chain"]["closed"], true);
}

/// A batch computed while no endpoint was enabled (its safe webhook events left out) does not
/// commit once an endpoint exists: the ingest core recomputes it with them.
#[tokio::test]
async fn a_batch_that_left_out_webhook_events_conflicts_once_an_endpoint_exists() {
    use fluxora::indexer::repo::{
        ChainBatchWrite, ChainCommit, ChainRepository, IndexerCheckpoint,
    };
    use fluxora::webhooks::repo::WebhookRepository;
    let (app, db) = spawn(&[]).await;
    let database = fluxora::store::open(&fluxora::config::Config::for_database(db.url()).database)
        .await
        .unwrap();
    let (store, webhooks) = (
        ChainRepository::new(database.clone()),
        WebhookRepository::new(database.clone()),
    );
    let batch = |omitted: bool, ledger: u32| ChainBatchWrite {
        ledgers: vec![(ledger, format!("{ledger:064x}"), None)],
        checkpoint: IndexerCheckpoint {
            cursor: None,
            last_ingested_ledger: Some(ledger),
            last_safe_ledger: Some(ledger - 1),
        },
        outbox_omitted: omitted,
        ..ChainBatchWrite::default()
    };
    // No endpoint yet: leaving the events out is right, the batch commits.
    assert!(!webhooks.any_enabled_endpoint().await.unwrap());
    assert_eq!(
        store.commit_batch(&batch(true, 100)).await.unwrap(),
        ChainCommit::Committed
    );
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, json!({})).await;
    assert!(webhooks.any_enabled_endpoint().await.unwrap());
    assert_eq!(
        store.commit_batch(&batch(true, 101)).await.unwrap(),
        ChainCommit::Conflict
    );
    // Nothing of the refused batch was written.
    assert_eq!(
        store.checkpoint().await.unwrap().last_ingested_ledger,
        Some(100)
    );
    assert_eq!(
        store.commit_batch(&batch(false, 101)).await.unwrap(),
        ChainCommit::Committed
    );
    database.close().await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_deliveries() {
    let db = TestDb::new().await;
    let receiver = Receiver::start().await;
    let env = webhook_env();
    let server = Server::start_with(&db.url(), &env).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/webhooks/endpoints", server.base))
        .bearer_auth(ADMIN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    receiver.trust(created["secret"].as_str().unwrap());
    receiver.set_delay(Duration::from_millis(1500));
    client
        .post(format!("{}/api/streams", server.base))
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.requests().is_empty() {
        assert!(Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGTERM while the receiver is still answering: the process waits for the answer, records
    // it, and exits 0.
    let log = server.terminate().await;
    assert_eq!(receiver.processed().len(), 1);
    assert!(
        log.iter().any(|e| e["message"] == "webhook delivered"),
        "recorded before exit"
    );
    let server = Server::start_with(&db.url(), &env).await;
    let deliveries: Value = client
        .get(format!("{}/api/webhooks/deliveries", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries["deliveries"][0]["status"], "delivered");
    server.terminate().await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "not sent again after the restart"
    );
}
