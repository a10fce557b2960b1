//! The OpenAPI document and the docs page, through real HTTP.
//!
//! Routes and the document come from the same `routes!` lines (see `fluxora::http::api_router`;
//! a plain `.route(` in the HTTP layer is refused by clippy). These tests check the rest against
//! the running service: the document lists exactly the service's routes, every documented
//! operation is routed (not the fallback's 404, not 405) and no other method is routed on a
//! documented path, every error response is the one envelope, real responses match their
//! schemas, and `/docs` works offline from assets the binary serves itself.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{valid_body, TestApp, TestDb};

const ADMIN: &str = "openapi-admin-token-0123456789abcdef";
const WORKER: &str = "openapi-worker-token-0123456789abcdef";

/// Every route the service serves, as `docs/api.md` lists them (here the webhook admin routes one
/// by one), including the docs page's own (`/docs` redirects to `/docs/`, whose assets are
/// `/docs/{file}`).
const EXPECTED_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/"),
    ("GET", "/docs/{file}"),
    ("POST", "/api/streams"),
    ("GET", "/api/streams"),
    ("GET", "/api/streams/{id}"),
    ("DELETE", "/api/streams/{id}"),
    ("POST", "/api/streams/{id}/pause"),
    ("POST", "/api/streams/{id}/resume"),
    ("POST", "/internal/indexer/events"),
    ("POST", "/api/webhooks/endpoints"),
    ("GET", "/api/webhooks/endpoints"),
    ("GET", "/api/webhooks/endpoints/{id}"),
    ("PATCH", "/api/webhooks/endpoints/{id}"),
    ("DELETE", "/api/webhooks/endpoints/{id}"),
    ("POST", "/api/webhooks/endpoints/{id}/rotate-secret"),
    ("POST", "/api/webhooks/endpoints/{id}/test"),
    ("POST", "/api/webhooks/endpoints/{id}/replay-dead-letters"),
    ("GET", "/api/webhooks/deliveries"),
    ("GET", "/api/webhooks/deliveries/{id}"),
    ("POST", "/api/webhooks/deliveries/{id}/replay"),
    ("POST", "/api/admin/keys"),
    ("GET", "/api/admin/keys"),
    ("DELETE", "/api/admin/keys/{id}"),
    ("GET", "/metrics"),
];

/// The error codes of the envelope (`docs/api.md`, "The error envelope").
const DESIGN_ERROR_CODES: &[&str] = &[
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "CONFLICT",
    "IDEMPOTENCY_KEY_IN_FLIGHT",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "METHOD_NOT_ALLOWED",
    "URI_TOO_LONG",
    "HEADERS_TOO_LARGE",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// A service with every optional route family switched on (admin API, push ingest).
async fn spawn() -> (TestApp, TestDb) {
    let db = TestDb::new().await;
    let app = TestApp::spawn_env(
        &db,
        &[
            ("ADMIN_TOKEN", ADMIN),
            ("INDEXER_WORKER_TOKEN", WORKER),
            ("WEBHOOK_SSRF_ALLOWLIST", "127.0.0.1"),
            ("WEBHOOK_RETRY_SCHEDULE", "50ms"),
            ("WEBHOOK_POLL_INTERVAL_MS", "20"),
        ],
    )
    .await;
    (app, db)
}

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().contains_key("x-request-id"),
        "the document goes through the request-id layer"
    );
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    response.json().await.expect("the document is JSON")
}

/// Every (METHOD, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(*method) {
                out.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    out
}

/// `path` with every `{param}` replaced by `probe`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("probe");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Routes exempt from rate limiting: the health probes and the metrics scrape.
fn is_health(path: &str) -> bool {
    path == "/health" || path.starts_with("/health/") || path == "/metrics"
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_design_routes() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;

    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version}");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));

    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let expected: BTreeSet<(String, String)> = EXPECTED_ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document must list exactly the design's routes"
    );

    // Operation ids are unique, and every operation has a summary or description and a tag.
    let mut ids = HashSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has a tag"
        );
        assert!(
            operation.get("summary").is_some() || operation.get("description").is_some(),
            "{method} {path} is described"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;

    for (method, path, _) in operations(&doc) {
        let url = app.url(&concrete(&path));
        let mut request = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
            .header("authorization", format!("Bearer {ADMIN}"))
            .header("x-indexer-worker-token", WORKER);
        if method == "POST" || method == "PATCH" {
            request = request.json(&json!({}));
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        if status == 404 {
            let value: Value = serde_json::from_slice(&body).expect("404 is an envelope");
            let message = value["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("Route '"),
                "{method} {path} is documented but answered by the fallback: {message}"
            );
        }
    }

    // On every documented path, the methods a 405's `Allow` lists are exactly the documented
    // ones (HEAD comes with GET): the method check ahead of authentication (`http/routing.rs`)
    // reads them from the same document the routes are registered from.
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let documented: BTreeSet<String> = METHODS
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_uppercase())
            .collect();
        let probe = ["PUT", "PATCH", "DELETE", "POST", "GET"]
            .into_iter()
            .find(|m| !documented.contains(*m))
            .expect("some method is not documented on each path");
        let response = app
            .client
            .request(
                Method::from_bytes(probe.as_bytes()).unwrap(),
                app.url(&concrete(path)),
            )
            .header("authorization", format!("Bearer {ADMIN}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{probe} {path} must not be routed");
        let allowed: BTreeSet<String> = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .expect("a 405 carries Allow")
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty() && m != "HEAD")
            .collect();
        assert_eq!(allowed, documented, "routed methods of {path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_error_response_is_the_envelope_and_auth_and_limits_are_documented() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;
    let envelope_ref = "#/components/schemas/ErrorEnvelope";

    // The envelope schema: code is an enum of exactly those codes.
    let schemas = &doc["components"]["schemas"];
    let envelope = &schemas["ErrorEnvelope"];
    assert_eq!(envelope["required"], json!(["error"]));
    let error_ref = envelope["properties"]["error"]["$ref"]
        .as_str()
        .expect("error is a reference");
    let error = resolve(&doc, error_ref);
    let mut required: Vec<&str> = error["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["code", "message", "requestId"]);
    assert!(error["properties"]["details"].is_object());
    let code = resolve(
        &doc,
        error["properties"]["code"]["$ref"]
            .as_str()
            .expect("code is a reference"),
    );
    let codes: BTreeSet<&str> = code["enum"]
        .as_array()
        .expect("code is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(codes, DESIGN_ERROR_CODES.iter().copied().collect());

    // Security schemes (`docs/api.md`, "OpenAPI document and docs page").
    let security = &doc["components"]["securitySchemes"];
    for (name, kind) in [
        ("adminToken", "http"),
        ("apiKey", "http"),
        ("metricsToken", "http"),
        ("indexerWorkerToken", "apiKey"),
    ] {
        assert_eq!(security[name]["type"], kind, "security scheme {name}");
    }
    assert_eq!(security["adminToken"]["scheme"], "bearer");
    assert_eq!(security["apiKey"]["scheme"], "bearer");
    assert_eq!(security["metricsToken"]["scheme"], "bearer");
    assert_eq!(security["indexerWorkerToken"]["in"], "header");
    assert_eq!(
        security["indexerWorkerToken"]["name"],
        "x-indexer-worker-token"
    );

    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let code: u16 = status.parse().expect("numeric status");
            if code < 400 {
                continue;
            }
            // The one documented exception: `/health` reports `unavailable` with its report.
            if (method.as_str(), path.as_str(), code) == ("GET", "/health", 503) {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/HealthReport"
                );
                continue;
            }
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"], envelope_ref,
                "{method} {path} {status} must reference the error envelope"
            );
        }
        let has = |status: &str| responses.contains_key(status);
        assert!(has("500"), "{method} {path} documents 500");
        // The request-head limits apply before any route: every operation documents them.
        assert!(
            has("414") && has("431"),
            "{method} {path} documents 414 and 431"
        );
        if !is_health(&path) {
            assert!(has("429"), "{method} {path} documents 429");
            let headers = &responses["429"]["headers"];
            for header in [
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ] {
                assert!(
                    headers.get(header).is_some(),
                    "{method} {path} 429 {header}"
                );
            }
        } else {
            assert!(
                !has("429"),
                "{method} {path}: health probes are not limited"
            );
        }

        let schemes: BTreeSet<String> = operation["security"]
            .as_array()
            .map(|requirements| {
                requirements
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|r| r.keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        if path.starts_with("/api/admin/") {
            // Key management: ADMIN_TOKEN only (a webhooks:admin key could mint stream keys).
            assert_eq!(
                operation["security"],
                json!([{"adminToken": []}]),
                "{method} {path}"
            );
        }
        let admin = path.starts_with("/api/webhooks/");
        let write = path.starts_with("/api/streams") && method != "GET";
        if admin {
            assert!(schemes.contains("adminToken") && schemes.contains("apiKey"));
            assert!(operation["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["apiKey"] == json!(["webhooks:admin"])));
        }
        if write {
            assert!(operation["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["apiKey"] == json!(["streams:write"])));
            // Open while no API key exists: the empty requirement.
            assert!(operation["security"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == &json!({})));
        }
        if path == "/internal/indexer/events" {
            assert_eq!(operation["security"], json!([{"indexerWorkerToken": []}]));
            assert!(has("401"));
        }
        if admin || write {
            assert!(
                has("401") && has("403"),
                "{method} {path} documents 401/403"
            );
        } else if schemes.is_empty() {
            assert!(
                !has("401") && !has("403"),
                "{method} {path} is public: no 401/403"
            );
        }
    }

    // Every reference in the document resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        assert!(
            !resolve(&doc, &reference).is_null(),
            "dangling reference {reference}"
        );
    }
    app.stop().await;
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("local reference");
    doc.pointer(pointer).unwrap_or(&Value::Null)
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The components made strict: every object schema that lists its properties gets
/// `unevaluatedProperties: false`, so a field the schema does not name fails validation. The
/// parts of an `allOf` (a `#[serde(flatten)]`) stay open, and the `allOf` itself is closed, so
/// the union of their properties is what is allowed; their originals are kept under `loose`.
fn strict_components(doc: &Value) -> Value {
    fn tighten(value: &mut Value) {
        match value {
            Value::Object(object) => {
                if let Some(Value::Array(parts)) = object.get_mut("allOf") {
                    for part in parts.iter_mut() {
                        match part.get("$ref").and_then(Value::as_str) {
                            Some(reference) => {
                                let loose = reference
                                    .replace("#/components/schemas/", "#/components/loose/");
                                *part = json!({ "$ref": loose });
                            }
                            // Inline parts stay open; their nested schemas are tightened.
                            None => {
                                if let Some(properties) = part.get_mut("properties") {
                                    tighten(properties);
                                }
                            }
                        }
                    }
                    object.insert("unevaluatedProperties".into(), Value::Bool(false));
                    return;
                }
                if object.contains_key("properties") && !object.contains_key("additionalProperties")
                {
                    object.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
                object.values_mut().for_each(tighten);
            }
            Value::Array(items) => items.iter_mut().for_each(tighten),
            _ => {}
        }
    }
    let mut components = doc["components"].clone();
    let loose = components["schemas"].clone();
    tighten(&mut components);
    components["loose"] = loose;
    components
}

/// Validates a real response against the schema the document gives for it.
struct Checker {
    doc: Value,
    components: Value,
    checked: BTreeSet<(String, String, u16)>,
}

impl Checker {
    fn new(doc: Value) -> Self {
        let components = strict_components(&doc);
        Checker {
            doc,
            components,
            checked: BTreeSet::new(),
        }
    }

    /// Sends `request`, asserts `status`, validates the body against the document's schema for
    /// `method template status`, and returns the body.
    async fn check(
        &mut self,
        request: reqwest::RequestBuilder,
        method: &str,
        template: &str,
        status: u16,
    ) -> Value {
        let response = request.send().await.expect("request");
        assert_eq!(
            response.status().as_u16(),
            status,
            "{method} {template}: unexpected status"
        );
        let bytes = response.bytes().await.expect("body");
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {template} is documented");
        let documented = &operation["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} documents {status}"
        );
        self.checked
            .insert((method.to_string(), template.to_string(), status));
        if bytes.is_empty() {
            assert!(
                documented.get("content").is_none(),
                "{method} {template} {status}: empty body, no content documented"
            );
            return Value::Null;
        }
        let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
        let mut schema = documented["content"]["application/json"]["schema"].clone();
        assert!(
            schema.is_object(),
            "{method} {template} {status} has a schema"
        );
        let object = schema.as_object_mut().expect("schema object");
        object.insert("components".into(), self.components.clone());
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: the body does not match its schema: {errors:?}\n{body}"
        );
        // The check has teeth: a field the schema does not name is refused.
        if let Value::Object(object) = &body {
            let mut extra = object.clone();
            extra.insert("undocumentedField".into(), json!(1));
            assert!(
                !validator.is_valid(&Value::Object(extra)),
                "{method} {template} {status}: the schema must refuse unknown fields"
            );
        }
        body
    }
}

#[tokio::test]
async fn real_responses_match_their_documented_schemas() {
    let (app, _db) = spawn().await;
    let doc = document(&app).await;
    let mut checker = Checker::new(doc);
    let c = &app.client;
    let auth = format!("Bearer {ADMIN}");

    // Meta and health.
    checker.check(c.get(app.url("/")), "GET", "/", 200).await;
    checker
        .check(c.get(app.url("/health")), "GET", "/health", 200)
        .await;
    checker
        .check(c.get(app.url("/health/live")), "GET", "/health/live", 200)
        .await;
    checker
        .check(c.get(app.url("/health/ready")), "GET", "/health/ready", 200)
        .await;

    // Streams: every success and the main errors (with field details).
    let created = checker
        .check(
            c.post(app.url("/api/streams")).json(&valid_body()),
            "POST",
            "/api/streams",
            201,
        )
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    let invalid = checker
        .check(
            c.post(app.url("/api/streams"))
                .json(&json!({"sender": "nope", "depositAmount": 5})),
            "POST",
            "/api/streams",
            400,
        )
        .await;
    assert!(invalid["error"]["details"]
        .as_array()
        .is_some_and(|d| !d.is_empty()));
    checker
        .check(
            c.post(app.url("/api/streams"))
                .header("content-type", "text/plain")
                .body("x"),
            "POST",
            "/api/streams",
            415,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/streams?limit=2")),
            "GET",
            "/api/streams",
            200,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/streams?limit=0")),
            "GET",
            "/api/streams",
            400,
        )
        .await;
    let stream_path = format!("/api/streams/{id}");
    checker
        .check(
            c.get(app.url(&format!("{stream_path}?at=0"))),
            "GET",
            "/api/streams/{id}",
            200,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/streams/missing")),
            "GET",
            "/api/streams/{id}",
            404,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{stream_path}/pause"))),
            "POST",
            "/api/streams/{id}/pause",
            200,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{stream_path}/pause"))),
            "POST",
            "/api/streams/{id}/pause",
            409,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{stream_path}/resume"))),
            "POST",
            "/api/streams/{id}/resume",
            200,
        )
        .await;
    let cancelled = checker
        .check(
            c.delete(app.url(&stream_path)),
            "DELETE",
            "/api/streams/{id}",
            200,
        )
        .await;
    assert!(cancelled["cancelledAt"].is_u64());

    // Push ingest.
    checker
        .check(
            c.post(app.url("/internal/indexer/events"))
                .header("x-indexer-worker-token", WORKER)
                .json(&json!({"events": []})),
            "POST",
            "/internal/indexer/events",
            200,
        )
        .await;
    checker
        .check(
            c.post(app.url("/internal/indexer/events"))
                .json(&json!({"events": []})),
            "POST",
            "/internal/indexer/events",
            401,
        )
        .await;

    // Webhook admin API, with a receiver that refuses connections so attempts are recorded.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook = format!(
        "http://127.0.0.1:{}/hook",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    checker
        .check(
            c.get(app.url("/api/webhooks/endpoints")),
            "GET",
            "/api/webhooks/endpoints",
            401,
        )
        .await;
    let endpoint = checker
        .check(
            c.post(app.url("/api/webhooks/endpoints"))
                .header("authorization", &auth)
                .json(&json!({"url": hook, "eventTypes": ["webhook.test"]})),
            "POST",
            "/api/webhooks/endpoints",
            201,
        )
        .await;
    let endpoint_id = endpoint["id"].as_str().expect("id").to_string();
    let endpoint_path = format!("/api/webhooks/endpoints/{endpoint_id}");
    checker
        .check(
            c.get(app.url("/api/webhooks/endpoints"))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/endpoints",
            200,
        )
        .await;
    checker
        .check(
            c.get(app.url(&endpoint_path))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/endpoints/{id}",
            200,
        )
        .await;
    checker
        .check(
            c.patch(app.url(&endpoint_path))
                .header("authorization", &auth)
                .json(&json!({"description": "docs", "enabled": true})),
            "PATCH",
            "/api/webhooks/endpoints/{id}",
            200,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{endpoint_path}/rotate-secret")))
                .header("authorization", &auth),
            "POST",
            "/api/webhooks/endpoints/{id}/rotate-secret",
            200,
        )
        .await;
    let queued = checker
        .check(
            c.post(app.url(&format!("{endpoint_path}/test")))
                .header("authorization", &auth),
            "POST",
            "/api/webhooks/endpoints/{id}/test",
            202,
        )
        .await;
    let delivery_id = queued["deliveryIds"][0]
        .as_str()
        .expect("a delivery")
        .to_string();
    let delivery_path = format!("/api/webhooks/deliveries/{delivery_id}");

    // Wait (with a deadline) until the refused attempt is recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let detail: Value = c
            .get(app.url(&delivery_path))
            .header("authorization", &auth)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        if detail["attemptLog"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            && detail["status"] != "pending"
        {
            break;
        }
        assert!(Instant::now() < deadline, "no attempt recorded: {detail}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let detail = checker
        .check(
            c.get(app.url(&delivery_path))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/deliveries/{id}",
            200,
        )
        .await;
    assert!(detail["attemptLog"][0]["error"].is_string());
    checker
        .check(
            c.get(app.url("/api/webhooks/deliveries?limit=1"))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/deliveries",
            200,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/webhooks/deliveries?status=bogus"))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/deliveries",
            400,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{endpoint_path}/replay-dead-letters")))
                .header("authorization", &auth),
            "POST",
            "/api/webhooks/endpoints/{id}/replay-dead-letters",
            200,
        )
        .await;
    checker
        .check(
            c.post(app.url(&format!("{delivery_path}/replay")))
                .header("authorization", &auth),
            "POST",
            "/api/webhooks/deliveries/{id}/replay",
            202,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/webhooks/deliveries/missing"))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/deliveries/{id}",
            404,
        )
        .await;
    checker
        .check(
            c.delete(app.url(&endpoint_path))
                .header("authorization", &auth),
            "DELETE",
            "/api/webhooks/endpoints/{id}",
            204,
        )
        .await;
    checker
        .check(
            c.get(app.url(&endpoint_path))
                .header("authorization", &auth),
            "GET",
            "/api/webhooks/endpoints/{id}",
            404,
        )
        .await;

    // Docs: an unknown asset is the envelope.
    checker
        .check(
            c.get(app.url("/docs/no-such-asset.js")),
            "GET",
            "/docs/{file}",
            404,
        )
        .await;

    // Every JSON success of the documented routes was validated against its schema.
    // API key management.
    let created = checker
        .check(
            c.post(app.url("/api/admin/keys"))
                .header("authorization", &auth)
                .json(&json!({"name": "openapi", "scopes": ["streams:read"]})),
            "POST",
            "/api/admin/keys",
            201,
        )
        .await;
    checker
        .check(
            c.get(app.url("/api/admin/keys"))
                .header("authorization", &auth),
            "GET",
            "/api/admin/keys",
            200,
        )
        .await;
    checker
        .check(
            c.delete(app.url(&format!(
                "/api/admin/keys/{}",
                created["id"].as_str().expect("id")
            )))
            .header("authorization", &auth),
            "DELETE",
            "/api/admin/keys/{id}",
            204,
        )
        .await;
    // /metrics is text: its documented content type is checked instead of a JSON schema.
    let metrics = c.get(app.url("/metrics")).send().await.expect("metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        checker.doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            .get("text/plain; version=0.0.4; charset=utf-8")
            .is_some()
    );

    let successes: BTreeSet<(String, String)> = checker
        .checked
        .iter()
        .filter(|(_, _, status)| *status < 300)
        .map(|(method, path, _)| (method.clone(), path.clone()))
        .collect();
    for (method, path) in EXPECTED_ROUTES {
        if path.starts_with("/docs") || *path == "/openapi.json" || *path == "/metrics" {
            continue;
        }
        assert!(
            successes.contains(&(method.to_string(), path.to_string())),
            "{method} {path}: a success response was checked"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_works_offline_from_assets_the_binary_serves() {
    let (app, _db) = spawn().await;

    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(
        redirect
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/docs/")
    );
    assert!(redirect.headers().contains_key("x-request-id"));

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html")));
    assert!(page.headers().contains_key("x-request-id"));
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "the page is Swagger UI");

    // Every src/href is same-origin: relative, no scheme, no protocol-relative URL.
    let assets = attribute_values(&html, &["src=\"", "href=\""]);
    assert!(
        assets.len() >= 3,
        "the page loads its scripts and styles: {assets:?}"
    );
    for asset in &assets {
        assert!(
            !asset.contains("://") && !asset.starts_with("//"),
            "{asset} is not same-origin"
        );
        let path = match asset.strip_prefix("./") {
            Some(relative) => format!("/docs/{relative}"),
            None if asset.starts_with('/') => asset.clone(),
            None => format!("/docs/{asset}"),
        };
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path} is served");
        let body = response.bytes().await.expect("asset");
        assert!(!body.is_empty(), "{path} is not empty");
    }

    // The initializer points the page at our document and switches the online validator off.
    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status(), 200);
    let script = initializer.text().await.expect("script");
    assert!(script.contains("/openapi.json"), "{script}");
    assert!(!script.contains("petstore"), "{script}");
    let compact: String = script.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(compact.contains("\"validatorUrl\":\"none\""), "{script}");
    assert!(
        !script.contains("https://") && !script.contains("http://"),
        "the initializer loads nothing from elsewhere: {script}"
    );

    // An unknown asset is the 404 envelope, with the request id.
    let missing = app.get("/docs/nope.css").await;
    assert_eq!(missing.status(), 404);
    let request_id = missing
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_string();
    let error: Value = missing.json().await.expect("envelope");
    assert_eq!(error["error"]["code"], "NOT_FOUND");
    assert_eq!(error["error"]["requestId"], request_id);

    // `GET /` advertises both.
    let info = app.get_json("/").await;
    assert_eq!(info["docs"], "/docs");
    assert_eq!(info["openapi"], "/openapi.json");
    app.stop().await;
}

/// The values of the given attributes (`src="`, `href="`) in `html`.
fn attribute_values(html: &str, prefixes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in prefixes {
        let mut rest = html;
        while let Some(start) = rest.find(prefix) {
            let after = &rest[start + prefix.len()..];
            let Some(end) = after.find('"') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}
